"""Speed of ppo_etf_classic.py (or of its parent, `--script ppo_classic.py`) next to CleanRL's ppo.py (gymnasium 0.29)
and next to itself at an older commit: atari_sps.py's benchmark with classic-control defaults (see
`python benchmarks/atari_sps.py --help`).
Steady-state agent steps per second between two SPS lines, runs alternated, medians, the same threads for all;
(c) is a SyncVectorEnv of the task alone with random actions.

  python benchmarks/classic_sps.py --upstream-script ~/cleanrl/cleanrl/ppo.py --upstream-python ~/venv_upstream/bin/python
  python benchmarks/classic_sps.py --ref 3a6c57d --threads 1
"""

import atari_sps

if __name__ == "__main__":
    defaults = dict(script="ppo_etf_classic.py", env_id="CartPole-v1", num_envs=4, window=(10, 150), rounds=3)
    atari_sps.main(__doc__, **defaults)
