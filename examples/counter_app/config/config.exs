import Config

config :counter_app, CounterApp.Store, data_dir: "tmp/counter_data"
config :logger, level: :warning
