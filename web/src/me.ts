import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Me } from "./api";

export const MeContext = createContext<Me | null>(null);

/** The signed-in principal (inside the shell it is never null). */
export function useMe(): Me {
  return useContext(MeContext)!;
}
