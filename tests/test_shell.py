"""The shell command splitter used for RUN, compose commands and healthchecks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockaudit.shell import command_from_argv, split_commands


def words(script: str) -> list[list[str]]:
    return [c.words for c in split_commands(script)]


@pytest.mark.parametrize(("script", "expected"), [
    ("apt-get update && apt-get install -y curl",
     [["apt-get", "update"], ["apt-get", "install", "-y", "curl"]]),
    ("a || b; c | d & e", [["a"], ["b"], ["c"], ["d"], ["e"]]),
    ("a\nb\n\nc", [["a"], ["b"], ["c"]]),
    ("a |& b", [["a"], ["b"]]),
    ("( cd /app && npm ci ) | tee log", [["cd", "/app"], ["npm", "ci"], ["tee", "log"]]),
    ("{ apt-get update; apt-get install -y x; }", [["apt-get", "update"], ["apt-get", "install", "-y", "x"]]),
    ("! grep -q x file", [["grep", "-q", "x", "file"]]),
    ("", []),
    ("   \n  ", []),
])
def test_operators_split_commands(script, expected):
    assert words(script) == expected


def test_quotes_and_escapes():
    assert words("""pip install "torch==2.3.0" 'numpy<2' a\\ b "x\\"y" 'it'\\''s'""") == [
        ["pip", "install", "torch==2.3.0", "numpy<2", "a b", 'x"y', "it's"]]
    assert words('echo "a && b" \'c; d\'') == [["echo", "a && b", "c; d"]]
    assert words("echo $'a\\tb'") == [["echo", "a\tb"]]
    assert words('echo "\\$HOME \\n"') == [["echo", "$HOME \\n"]]


def test_substitutions_stay_inside_words():
    assert words("pip install $(cat reqs.txt | grep -v x) `uname -m` ${PKG:-a b} $((1 + 2))") == [
        ["pip", "install", "$(cat reqs.txt | grep -v x)", "`uname -m`", "${PKG:-a b}", "$((1 + 2))"]]
    assert words('echo "$(echo "nested; quotes")"') == [["echo", '$(echo "nested; quotes")']]


def test_line_continuations():
    assert words("apt-get install -y \\\n    curl \\\n    git") == [
        ["apt-get", "install", "-y", "curl", "git"]]


def test_comments():
    assert words("apt-get update # refresh && rm -rf /\nls") == [["apt-get", "update"], ["ls"]]
    assert words("echo a#b") == [["echo", "a#b"]]
    assert words("echo x;#c\nls") == [["echo", "x"], ["ls"]]


def test_assignments():
    [command] = split_commands("DEBIAN_FRONTEND=noninteractive PATH=/x:$PATH apt-get install -y tzdata")
    assert command.assignments == {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/x:$PATH"}
    assert command.words == ["apt-get", "install", "-y", "tzdata"]
    [only] = split_commands("X=1")
    assert only.words == [] and only.assignments == {"X": "1"}
    [quoted] = split_commands("'X=1' cmd")
    assert quoted.words == ["X=1", "cmd"] and quoted.assignments == {}


def test_redirections_are_removed():
    [command] = split_commands("apt-get install -y curl > /dev/null 2>&1 </dev/null &>>log")
    assert command.words == ["apt-get", "install", "-y", "curl"]
    assert command.redirects == [">/dev/null", "2>&1", "</dev/null", "&>>log"]
    assert words("cat<<<'x' file") == [["cat", "file"]]


def test_here_document_bodies_are_skipped():
    script = "cat <<EOF > /etc/pip.conf\n[global]\npip install nope\nEOF\npip install yes\n" \
             "cat <<-'END' >x\n\tapt-get install no\n\tEND\necho done"
    assert words(script) == [["cat"], ["pip", "install", "yes"], ["cat"], ["echo", "done"]]


def test_compound_commands():
    script = ("if [ -f requirements.txt ]; then pip install -r requirements.txt; "
              "elif true; then :; else echo none; fi\n"
              "for p in a b; do pip install $p; done\n"
              "while read -r line; do echo $line; done < file\n"
              "case \"$TARGETARCH\" in amd64) apt-get install -y x ;; arm64|aarch64) echo arm ;; "
              "*) exit 1 ;; esac\n"
              "case $x in\n  a)\n    echo a\n    ;;\nesac\necho after")
    assert words(script) == [
        ["[", "-f", "requirements.txt", "]"], ["pip", "install", "-r", "requirements.txt"], ["true"], [":"],
        ["echo", "none"],
        ["pip", "install", "$p"],
        ["read", "-r", "line"], ["echo", "$line"],
        ["apt-get", "install", "-y", "x"], ["echo", "arm"], ["exit", "1"],
        ["echo", "a"], ["echo", "after"],
    ]


def test_offsets():
    script = "apt-get update && \\\n  FOO=1 apt-get install -y curl"
    first, second = split_commands(script)
    assert script[first.start:first.end] == "apt-get update"
    assert script[second.start:second.end] == "FOO=1 apt-get install -y curl"
    assert [script[s:e] for s, e in second.word_offsets] == ["apt-get", "install", "-y", "curl"]


def test_sh_c_is_unwrapped():
    script = "set -eux; bash -lc 'pip install \"torch==2.3\" && npm ci'"
    commands = split_commands(script)
    assert [c.words for c in commands] == [["set", "-eux"], ["pip", "install", "torch==2.3"], ["npm", "ci"]]
    pip = commands[1]
    assert pip.wrappers == ["bash -c"]
    assert script[pip.start:pip.end] == 'pip install "torch==2.3"'
    assert words('sh -ec "apk add curl"') == [["apk", "add", "curl"]]
    assert words("/bin/sh -o pipefail -c 'a | b'") == [["a"], ["b"]]
    assert words("bash script.sh --flag") == [["bash", "script.sh", "--flag"]]
    assert words("bash -c") == [["bash", "-c"]]


def test_wrappers_are_unwrapped():
    [command] = split_commands("FOO=1 sudo -E -u app env -i X=2 nohup time -p exec pip install x")
    assert command.words == ["pip", "install", "x"]
    assert command.assignments == {"FOO": "1", "X": "2"}
    assert command.wrappers == ["sudo", "env", "nohup", "time", "exec"]
    assert words("sudo apt-get install -y curl") == [["apt-get", "install", "-y", "curl"]]
    assert words("env") == [["env"]]
    assert words("command -v pip") == [["command", "-v", "pip"]]
    assert words("command pip install x") == [["pip", "install", "x"]]


def test_assignments_flow_into_sh_c():
    [command] = split_commands("PIP_NO_CACHE_DIR=1 sh -c 'pip install x'")
    assert command.assignments == {"PIP_NO_CACHE_DIR": "1"}
    assert command.words == ["pip", "install", "x"]


def test_name_property():
    [command] = split_commands("/app/venv/bin/pip install -r requirements.txt")
    assert command.name == "pip" and command.args == ["install", "-r", "requirements.txt"]
    assert str(command) == "/app/venv/bin/pip install -r requirements.txt"


def test_exec_form_argv():
    argv = ["/bin/sh", "-c", "apt-get update && apt-get install -y x"]
    assert [c.words for c in command_from_argv(argv)] == [
        ["apt-get", "update"], ["apt-get", "install", "-y", "x"]]
    assert [c.words for c in command_from_argv(["pip", "install", "a b"])] == [["pip", "install", "a b"]]
    assert command_from_argv([]) == []


def test_unbalanced_quotes_best_effort():
    assert words("echo 'unterminated && rm -rf /") == [["echo", "unterminated && rm -rf /"]]
    assert words('pip install "x') == [["pip", "install", "x"]]
    assert words("echo $(never closed") == [["echo", "$(never closed"]]
    assert words("echo `x") == [["echo", "`x"]]
    assert words("echo \\") == [["echo", "\\"]]


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["a", " ", "&&", "||", ";", "|", "&", "(", ")", "{", "}", "'", '"', "\\", "\n",
                              "$(", "${", "`", "#", "<<EOF", "EOF", "<<-", ">", "2>&1", "sh -c '", "sudo",
                              "env X=1", "case", "in", "esac", ";;", "if", "then", "fi", "X=1"]),
             max_size=50).map("".join),
))
def test_split_commands_never_raises(script):
    for command in split_commands(script):
        assert 0 <= command.start <= command.end <= len(script) or command.wrappers
        assert all(isinstance(w, str) for w in command.words)
