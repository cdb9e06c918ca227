defmodule CounterApp.Store do
  @moduledoc "The application's FerricStore instance, configured under :counter_app."
  use FerricStore, otp_app: :counter_app
end
