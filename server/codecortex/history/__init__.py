"""Learning from git history: the miner with its noise filters and the learn_history job."""
