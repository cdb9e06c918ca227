defmodule FerricStore.Commands.GlobTest do
  use ExUnit.Case, async: true

  import FerricStore.Test.RespServerCase

  alias FerricStore.Commands.Glob
  alias FerricStore.Protocol.RESP

  defp matches(pattern, keys), do: Enum.filter(keys, &Glob.match?(Glob.compile(pattern), &1))

  test "classes, escapes and stars as Redis' stringmatchlen" do
    assert matches("h?llo", ~w(hello hallo hllo)) == ~w(hello hallo)
    assert matches("h[^e]llo", ~w(hello hallo)) == ~w(hallo)
    assert matches("h[a-b]llo", ~w(hallo hbllo hcllo)) == ~w(hallo hbllo)
    assert matches("h[b-a]llo", ~w(hallo hbllo)) == ~w(hallo hbllo)
    assert matches("h\\*llo", ~w(h*llo hello)) == ~w(h*llo)
    # `[a-]` is the range `]`..`a`, and the class then runs to the end of the pattern.
    assert matches("[a-]", ["]", "^", "a", "-"]) == ["]", "^", "a"]
    assert matches("h[a-]llo", ~w(hallo h-llo hl hl)) == ~w(hl hl)
    assert matches("[]", ~w(a ])) == []
    assert matches("[^]", ~w(a ])) == ~w(a ])
    assert matches("a[", ~w(a a[)) == []
  end

  test "the empty key matches only `*` (which Redis does not match at all) and ``" do
    assert Glob.match?(Glob.compile("*"), "")
    refute Glob.match?(Glob.compile("**"), "")
    refute Glob.match?(Glob.compile("?"), "")
    assert Glob.match?(Glob.compile(""), "")
    assert Glob.match?(Glob.compile("a**"), "a")
  end

  test "many stars: no backtracking blow-up, no false negatives" do
    key = String.duplicate("ab", 24)
    assert Glob.match?(Glob.compile(String.duplicate("*b", 24)), key)
    assert Glob.match?(Glob.compile(String.duplicate("a*", 24)), String.duplicate("a", 25))

    refute Glob.match?(
             Glob.compile(String.duplicate("*a", 40) <> "*c"),
             String.duplicate("a", 300)
           )

    long = String.duplicate("x", 100) <> "y"
    assert Glob.match?(Glob.compile(String.duplicate("*x", 24) <> "*y"), long)
  end

  # A KEYS reply is an array of bulk strings, the shape of a request: the server's own
  # parser reads it (an empty array is skipped like an empty request).
  defp bulk_array("*0\r\n"), do: []

  defp bulk_array(reply) do
    {:ok, items, ""} = RESP.parse(reply)
    items
  end

  describe "against a real redis-server 7" do
    @describetag :integration

    test "KEYS lists the same keys for every pattern" do
      {rport, stop} = start_redis() || flunk("redis-server is not installed (scripts/setup.sh)")

      try do
        sock = connect(rport)

        keys =
          ["", "a", "b", "ab", "ba", "abc", "a*c", "a?c", "a[c", "a]c", "a\\c", "a-c", "]", "^"] ++
            ["-", "hello", "hallo", "hxllo", "h-llo", "h]llo", "héllo", <<0xFF, "x">>, "x\r\ny"] ++
            [String.duplicate("ab", 24), String.duplicate("a", 25), "[", "[]", "\\"]

        mset = Enum.flat_map(keys, &[&1, "1"])
        request(sock, RESP.encode(["MSET" | mset], 2))

        patterns =
          ["*", "**", "***", "?", "??", "a*", "*c", "a?c", "a\\?c", "a\\*c", "a[*]c", "a[?]c"] ++
            ["[a-]", "h[a-]llo", "[ab-]", "[]", "[^]", "[]a]", "[^a]", "[!a]", "[a-c]", "[c-a]"] ++
            [
              "h[^e]llo",
              "h[a-z]llo",
              "h\\",
              "\\",
              "\\\\",
              "a\\",
              "[\\]]",
              "[\\\\]",
              "a[",
              "[",
              "[^"
            ] ++
            ["*[", "x*y", "x?\r?y", "*\r\n*", <<0xFF, "*">>, <<"[", 0x80, "-", 0xFF, "]*">>] ++
            [String.duplicate("*b", 24), String.duplicate("a*", 24), String.duplicate("*a", 30)] ++
            ["h*l*o", "*l*l*", "h[e-h]*", "*-*", "*]*", "*[-]*", "*[[]*", "[*]", "[?]"]

        for pattern <- patterns do
          reply = sock |> request(RESP.encode(["KEYS", pattern], 2)) |> bulk_array()
          assert Enum.sort(matches(pattern, keys)) == Enum.sort(reply), inspect(pattern)
        end
      after
        stop.()
      end
    end
  end
end
