"""Background work: the job queue on the video table, and the engines that run it."""
