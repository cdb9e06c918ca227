defmodule Mix.Tasks.Compile.FerricstoreNif do
  @moduledoc false
  # Builds the Rust NIF with cargo and copies it to priv/. Lives in mix.exs so that it
  # exists before the project itself is compiled (no hex `rustler` package needed).
  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    root = Path.expand(".", __DIR__)
    profile = System.get_env("FERRICSTORE_NIF_PROFILE", "release")

    args =
      ["build", "-p", "ferricstore_nif"] ++ if(profile == "release", do: ["--release"], else: [])

    case System.cmd("cargo", args, cd: root, stderr_to_stdout: true) do
      {_, 0} ->
        dir = if profile == "release", do: "release", else: "debug"
        src = Path.join([root, "target", dir, "libferricstore_nif.so"])
        dest_dir = Path.join(Mix.Project.app_path(), "priv")
        File.mkdir_p!(dest_dir)
        dest = Path.join(dest_dir, "ferricstore_nif.so")
        File.mkdir_p!(Path.join(root, "priv"))
        copy_if_changed(src, Path.join([root, "priv", "ferricstore_nif.so"]))
        if copy_if_changed(src, dest), do: {:ok, []}, else: {:noop, []}

      {out, status} ->
        Mix.shell().error(out)
        Mix.raise("cargo build of the FerricStore NIF failed (exit #{status})")
    end
  end

  defp copy_if_changed(src, dest) do
    if File.exists?(dest) and File.read!(src) == File.read!(dest) do
      false
    else
      # Write to a temp file and rename: a loaded .so must not be overwritten in place.
      tmp = dest <> ".tmp"
      File.cp!(src, tmp)
      File.rename!(tmp, dest)
      true
    end
  end
end

defmodule FerricStore.MixProject do
  use Mix.Project

  @version "0.1.0"

  # ra & co come from Debian's rabbitmq-server package, unpacked into _vendor/erl by
  # scripts/setup.sh (ERL_LIBS points there too). Adding them here lets a consumer that
  # depends on FerricStore by path find them without further setup. Where hex.pm is
  # reachable, FERRICSTORE_HEX_DEPS=1 declares ra as a normal dependency instead.
  for ebin <- Path.wildcard(Path.join(__DIR__, "_vendor/erl/*/ebin")) do
    Code.prepend_path(ebin)
  end

  def project do
    [
      app: :ferricstore,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: [:ferricstore_nif] ++ Mix.compilers(),
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: deps(),
      docs: [main: "FerricStore"]
    ]
  end

  def application do
    [
      extra_applications: [:logger, :crypto, :ra],
      mod: {FerricStore.Application, []}
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp deps do
    if System.get_env("FERRICSTORE_HEX_DEPS") == "1", do: [{:ra, "~> 2.2"}], else: []
  end
end
