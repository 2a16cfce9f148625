"""The whole pipeline from one config file: its schema (:mod:`.schema`), reading it (:mod:`.config`), the stages
(:mod:`.stages`) and SLURM (:mod:`.slurm`)."""
