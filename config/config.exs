import Config

# The default instance is started by the application only when `start_default` is true
# (the standalone server turns it on). Embedded users usually add
# `{FerricStore, name: MyApp.Store, data_dir: "..."}` to their own supervision tree.
config :ferricstore,
  start_default: false,
  data_dir: "data",
  shards: 1

config :logger, level: :info

import_config "#{config_env()}.exs"
