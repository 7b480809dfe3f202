// The build writes into the Python package (server/webapp), which ships it as package
// data: `scenario-lab serve` then needs neither Node nor the network to serve the app.
import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [preact()],
  base: "/",
  build: {
    outDir: "../server/webapp",
    emptyOutDir: true,
    assetsDir: "assets",
    // the editor (CodeMirror) and charts load with the pages that use them
    chunkSizeWarningLimit: 800,
    sourcemap: false,
  },
});
