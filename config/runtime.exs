import Config

# Standalone server settings from the environment (documented in README.md).
env = fn name, default -> System.get_env(name, default) end

if env.("FERRICSTORE_SERVER", "false") == "true" do
  config :ferricstore,
    start_default: true,
    server: true,
    data_dir: env.("FERRICSTORE_DATA_DIR", "data"),
    shards: String.to_integer(env.("FERRICSTORE_SHARDS", "1")),
    port: String.to_integer(env.("FERRICSTORE_PORT", "6379")),
    bind: env.("FERRICSTORE_BIND", "127.0.0.1"),
    password: System.get_env("FERRICSTORE_PASSWORD"),
    maxmemory: String.to_integer(env.("FERRICSTORE_MAXMEMORY", "0"))
end
