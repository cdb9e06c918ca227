ExUnit.start(exclude: [:slow, :integration, :crash, :cluster])
