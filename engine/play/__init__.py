"""Playing a run: the turn loop and its phases, actor brains, prompts, model calls,
human seats, and starting, resuming and forking runs."""
