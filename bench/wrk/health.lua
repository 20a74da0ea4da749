-- Baseline: GET the URL given on the command line (/health/live), counting errors like the others.
dofile(os.getenv("BENCH_DIR") .. "/wrk/common.lua")
