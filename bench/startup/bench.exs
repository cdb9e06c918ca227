# Issue #6 start-up, memory and overwrite benchmark (FerricStore side); driven by
# bench/startup/run.sh. Subcommands:
#   load DIR N            load N keys "key:<n>" with 256 B values (mset, 500 per call, 16 procs)
#   overwrite DIR GB PASSES  write GB of 4 KiB values PASSES times over the same keys,
#                         printing disk usage after each pass

Logger.configure(level: :warning)
Code.require_file("startup_bench.ex", __DIR__)
StartupBench.main(System.argv())
