from mpi4py import MPI

ranks = MPI.COMM_WORLD.allgather(MPI.COMM_WORLD.rank)
if MPI.COMM_WORLD.rank == 0:  # one writer: the processes' output would interleave
    print(f"ranks {ranks} of {MPI.COMM_WORLD.size}", flush=True)
