"""The nginx tokenizer and block parser: structure, exact positions, errors, templates."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.parse.nginx import parse
from dockaudit.source import Span, from_text


def conf(text: str, path: str = "nginx/nginx.conf"):
    return parse(from_text(path, text))


def spans_inside(source, span: Span) -> bool:
    if not (1 <= span.line <= span.end_line <= source.line_count):
        return False
    if not 1 <= span.column <= len(source.line_text(span.line)) + 1:
        return False
    return 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1


FULL = """\
worker_processes auto;

events {
    worker_connections 1024;
}

http {
    upstream app_backend {
        server 127.0.0.1:3000;
    }
    server {
        listen 443 ssl;
        location /api/tts {
            proxy_pass http://app_backend;
            proxy_read_timeout 120s;
        }
    }
}
"""


def test_structure_and_positions():
    config = conf(FULL)
    assert config.diagnostics == []
    names = [(d.name, len(parents)) for d, parents in config.walk()]
    assert names == [
        ("worker_processes", 0), ("events", 0), ("worker_connections", 1), ("http", 0),
        ("upstream", 1), ("server", 2), ("server", 1), ("listen", 2), ("location", 2),
        ("proxy_pass", 3), ("proxy_read_timeout", 3),
    ]
    proxy = config.find("proxy_pass")[0]
    assert proxy.args == ["http://app_backend"]
    assert proxy.file == "nginx/nginx.conf"
    assert proxy.name_span == Span("nginx/nginx.conf", 14, 13, 14, 23)
    assert proxy.arg_spans == [Span("nginx/nginx.conf", 14, 24, 14, 42)]
    assert proxy.span == Span("nginx/nginx.conf", 14, 13, 14, 43)  # through the ';'
    http = config.find("http")[0]
    assert http.span == Span("nginx/nginx.conf", 7, 1, 18, 2)  # through the closing '}'
    assert http.block is not None and [d.name for d in http.block] == ["upstream", "server"]
    upstream = config.find("upstream")[0]
    assert upstream.args == ["app_backend"] and upstream.children("server")[0].args == ["127.0.0.1:3000"]
    assert config.find("listen")[0].args == ["443", "ssl"]
    assert config.find("worker_processes")[0].block is None


def test_walk_parents_are_outermost_first():
    config = conf(FULL)
    for directive, parents in config.walk():
        if directive.name == "proxy_pass":
            assert [p.name for p in parents] == ["http", "server", "location"]


def test_anchor_lines_innermost_first():
    config = conf(FULL)
    assert config.anchor_lines(14) == [14, 13, 11, 7]
    assert config.anchor_lines(4) == [4, 3]
    assert config.anchor_lines(2) == []


def test_quotes_and_escapes():
    config = conf('add_header X-Test "a \\"b\\" c" always;\nset $x \'it\\\'s\';\nreturn 200 "tab\\there";\n')
    assert config.diagnostics == []
    add, set_, ret = config.directives
    assert add.args == ["X-Test", 'a "b" c', "always"]
    assert add.quoted == [False, True, False]
    assert add.arg_spans[1] == Span("nginx/nginx.conf", 1, 19, 1, 30)  # quotes included
    assert set_.args == ["$x", "it's"]
    assert ret.args == ["200", "tab\there"]


def test_unknown_escape_kept_and_escaped_semicolon():
    config = conf("rewrite ^/a\\.b$ /c;\nx a\\;b;\n")
    assert config.directives[0].args == ["^/a\\.b$", "/c"]
    assert config.directives[1].args == ["a\\;b"]  # nginx keeps \; as written, but it does not end the word


def test_variables_with_braces_stay_in_the_word():
    config = conf("set $a ${b}x;\nreturn 301 https://$host$request_uri;\n")
    assert config.directives[0].args == ["$a", "${b}x"]
    assert config.directives[1].args == ["301", "https://$host$request_uri"]


def test_comments_only_at_word_start():
    config = conf("# leading comment\nlisten 80; # trailing\nadd_header X a#b;\n")
    assert [d.name for d in config.directives] == ["listen", "add_header"]
    assert config.directives[1].args == ["X", "a#b"]


def test_closing_brace_inside_a_word_is_part_of_it():
    # as in nginx: '}' ends a word only at a word start, so this 'return' lacks its ';'
    config = conf("location / { return 200}\n")
    assert config.find("return")[0].args == ["200}"]
    assert any("unexpected end of file" in f.message for f in config.diagnostics)


def test_lua_block_is_one_raw_token():
    text = ('content_by_lua_block {\n  local s = "}" -- a } in a comment\n'
            '  ngx.say([[ { ]])\n  if x then y() end\n}\nlisten 8080;\n')
    config = conf(text)
    assert config.diagnostics == []
    lua, listen = config.directives
    assert lua.block == [] and lua.raw_block is not None and "ngx.say" in lua.raw_block
    assert lua.span == Span("nginx/nginx.conf", 1, 1, 5, 2)
    assert listen.args == ["8080"] and listen.span.line == 6


def test_conf_d_snippet_without_http():
    text = ("upstream api { server api:8000; }\n"
            "server {\n  listen 80;\n  location / { proxy_pass http://api; }\n}\n")
    config = conf(text, path="nginx/conf.d/default.conf")
    assert config.diagnostics == []
    assert [d.name for d in config.directives] == ["upstream", "server"]
    assert config.find("proxy_pass")[0].args == ["http://api"]


# --- errors --------------------------------------------------------------------------------------


def messages(config):
    return [(f.span.line, f.span.column, f.rule) for f in config.diagnostics]


def test_missing_semicolon_before_closing_brace_keeps_parsing():
    config = conf("server {\n  location / { proxy_pass http://app }\n  listen 80;\n}\n")
    assert messages(config) == [(2, 37, "DA001")]
    assert 'missing ";"' in config.diagnostics[0].message
    # the directive is kept, the block closes, and the rest is read
    assert config.find("proxy_pass")[0].args == ["http://app"]
    assert config.find("listen")[0].args == ["80"]
    assert [p.name for d, p in config.walk() if d.name == "listen" for p in p] == ["server"]


def test_missing_semicolon_at_line_end_before_known_directive():
    config = conf("server {\n  listen 80\n  server_name example.com;\n}\n")
    assert messages(config) == [(2, 12, "DA001")]
    assert [d.args for d in config.find("listen")] == [["80"]]
    assert [d.args for d in config.find("server_name")] == [["example.com"]]


def test_multiline_arguments_are_not_missing_semicolons():
    config = conf("log_format main '$remote_addr'\n    '$status';\nadd_header X\n    always;\n")
    assert config.diagnostics == []
    assert config.directives[0].args == ["main", "$remote_addr", "$status"]


def test_unbalanced_closing_brace():
    config = conf("listen 80;\n}\nlisten 81;\n")
    assert messages(config) == [(2, 1, "DA001")]
    assert [d.args for d in config.find("listen")] == [["80"], ["81"]]


def test_unexpected_end_of_file_inside_blocks():
    config = conf("http {\n  server {\n    listen 80;\n")
    assert len(config.diagnostics) == 1  # the innermost unclosed block only, as nginx
    finding = config.diagnostics[0]
    assert (finding.span.line, finding.span.column) == (4, 1)
    assert "line 2 column 10" in finding.message
    assert config.find("listen")[0].args == ["80"]  # what parsed is kept


def test_unexpected_end_of_file_after_directive():
    config = conf("listen 80")
    assert messages(config) == [(1, 10, "DA001")]
    assert config.find("listen")[0].args == ["80"]


def test_unterminated_quote():
    config = conf('add_header X "never closed;\nlisten 80;\n')
    assert messages(config) == [(1, 14, "DA001")]
    assert "unterminated" in config.diagnostics[0].message


def test_character_right_after_quote():
    config = conf('add_header "X"Y;\n')
    assert messages(config) == [(1, 15, "DA001")]


def test_stray_semicolon_and_brace():
    config = conf(";\n{ listen 80; }\n")
    assert messages(config) == [(1, 1, "DA001"), (2, 1, "DA001")]


def test_deep_nesting_is_cut_not_crashed():
    config = conf("a {" * 5000)
    assert config.diagnostics and all(f.rule == "DA001" for f in config.diagnostics)
    assert len(config.diagnostics) <= 20


# --- templates ---------------------------------------------------------------------------------


def test_template_env_refs():
    text = ("# ${IN_COMMENT} is not a reference\n"
            "server {\n"
            "    listen ${NGINX_PORT};\n"
            "    location / { proxy_pass http://${BACKEND_HOST}:${BACKEND_PORT}; "
            "proxy_set_header Host $host; }\n"
            "}\n")
    config = conf(text, path="nginx/templates/default.conf.template")
    assert config.is_template
    assert [(name, span.line, span.column, span.end_column) for name, span in config.env_refs] == [
        ("NGINX_PORT", 3, 12, 25), ("BACKEND_HOST", 4, 36, 51), ("BACKEND_PORT", 4, 52, 67)]
    assert ("host", 4) in [(name, span.line) for name, span in config.bare_refs]
    assert config.find("listen")[0].args == ["${NGINX_PORT}"]


def test_plain_config_is_not_template():
    assert not conf("listen 80;").is_template


# --- hostile input -----------------------------------------------------------------------------


def test_binary_like_garbage_does_not_raise():
    text = "".join(chr(c) for c in range(1, 400)) * 3 + '{"\\\'${;}#\n' * 50
    config = conf(text)
    for directive, _ in config.walk():
        assert spans_inside(config.source, directive.span)
    for finding in config.diagnostics:
        assert spans_inside(config.source, finding.span)


ALPHABET = st.sampled_from([*"ab $;{}#\"'\\\n\t", "server", "location", "listen", "${X}", "_by_lua_block",
                            "content_by_lua_block {", "--[[", "]]", "é"])


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=80).map("".join))
def test_property_never_raises_and_spans_inside(text):
    config = conf(text, path="x.conf.template")
    source = config.source
    for directive, _parents in config.walk():
        assert spans_inside(source, directive.span)
        assert spans_inside(source, directive.name_span)
        for span in directive.arg_spans:
            assert spans_inside(source, span)
    for finding in config.diagnostics:
        assert finding.rule == "DA001"
        assert spans_inside(source, finding.span)
    for _name, span in config.env_refs:
        assert spans_inside(source, span)
    for line in range(1, source.line_count + 1):
        config.anchor_lines(line)
