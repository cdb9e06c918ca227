defmodule FerricStore.Server.CLITest do
  use ExUnit.Case, async: true

  alias FerricStore.Server.CLI

  @moduletag :tmp_dir

  test "load_config/1 reads config.exs for :prod, its imports, then runtime.exs", %{tmp_dir: dir} do
    File.write!(Path.join(dir, "config.exs"), """
    import Config
    config :cli_test, a: 1, b: 1, c: 1
    import_config "\#{config_env()}.exs"
    """)

    File.write!(Path.join(dir, "prod.exs"), "import Config\nconfig :cli_test, b: 2\n")
    File.write!(Path.join(dir, "runtime.exs"), "import Config\nconfig :cli_test, c: 3\n")

    config = CLI.load_config(dir)
    assert Enum.sort(config[:cli_test]) == [a: 1, b: 2, c: 3]

    File.rm!(Path.join(dir, "runtime.exs"))
    assert Enum.sort(CLI.load_config(dir)[:cli_test]) == [a: 1, b: 2, c: 1]
  end

  test "the project's own configuration starts the server only when asked" do
    config = CLI.load_config(Path.join(File.cwd!(), "config"))
    asked? = System.get_env("FERRICSTORE_SERVER") == "true"
    assert config[:ferricstore][:start_default] == asked?
    assert Keyword.has_key?(config[:ferricstore], :server) == asked?
    assert config[:logger][:level] == :info
  end
end
