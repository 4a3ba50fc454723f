"""Rendering a project format's template tree (and one engine overlay) into a project folder.

Templates are data: a folder tree where `*.j2` files are Jinja2 templates and everything else
is copied as is. Path segments may hold placeholders (`__package__` becomes `com/example/app`).
A template that renders to nothing but whitespace is left out. Engine-only files come from the
engine's overlay folder (sdk_gen/runtimes/engine.py), rendered over the format's tree.

Values that came from the user (app name, model name, package) are wrapped in UserText, which
refuses to be printed: a template must pass them through the escaping filter of the language it
writes (kotlin_string, android_string, xml, yaml_string, swift_string, ...). So a name with a
quote, `$`, a backslash or a newline cannot break out of a literal or inject code.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

import jinja2

# The folder of an engine overlay that holds hooks (pieces shared templates include), not files.
HOOKS_FOLDER = "_hooks"


class UserText:
    """A string from the user; printable only through an escaping filter."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = str(value)

    def __str__(self) -> str:
        raise jinja2.TemplateError("user-provided text must pass through an escaping filter (e.g. kotlin_string)")

    __html__ = __str__

    def __repr__(self) -> str:
        return f"UserText({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UserText) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def _raw(value: Any) -> str:
    return value.value if isinstance(value, UserText) else str(value)


# Escapes every C-family string literal here shares; the rest differs per language.
_COMMON_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Characters that end a line for some editors and parsers although they are not controls.
_LINE_BREAKS = "\u2028\u2029\u0085"


def _escape_string_body(value: Any, extra: dict[str, str], escape_surrogates: bool, unicode_escape: str) -> str:
    """Body of a double-quoted string literal (quotes not included); ``unicode_escape`` formats
    the code point of a control or line-break character."""
    out = []
    for ch in _raw(value):
        code = ord(ch)
        if ch in _COMMON_ESCAPES:
            out.append(_COMMON_ESCAPES[ch])
        elif ch in extra:
            out.append(extra[ch])
        elif code < 0x20 or ch in _LINE_BREAKS or (escape_surrogates and 0xD800 <= code <= 0xDFFF):
            out.append(unicode_escape.format(code))
        else:
            out.append(ch)
    return "".join(out)


def _escape_code_string(value: Any, dollar: bool) -> str:
    """Body of a double-quoted Kotlin/Java string literal (quotes not included); Kotlin
    interpolates `$`, Java does not."""
    return _escape_string_body(value, {"$": "\\$"} if dollar else {}, escape_surrogates=True, unicode_escape="\\u{:04x}")


def kotlin_string(value: Any) -> str:
    """A complete Kotlin (or Gradle Kotlin DSL) string literal: quotes, escapes, `$` neutralised."""
    return '"' + _escape_code_string(value, dollar=True) + '"'


def swift_string(value: Any) -> str:
    """A complete Swift string literal. Swift interpolates `\\(`, which escaping the backslash defuses."""
    return '"' + _escape_string_body(value, {}, escape_surrogates=False, unicode_escape="\\u{{{:x}}}") + '"'


def _xml_char_allowed(ch: str) -> bool:
    """XML 1.0's Char production: tab, newline, CR and U+0020 up, less surrogates and U+FFFE/U+FFFF."""
    code = ord(ch)
    return ch in "\t\n\r" or (0x20 <= code <= 0xD7FF) or (0xE000 <= code <= 0xFFFD) or code >= 0x10000


def xml(value: Any) -> str:
    """Text or attribute content for XML (manifests, plists, resources). Characters XML 1.0 cannot
    carry at all are dropped; tab, newline and CR become character references, so attribute
    normalisation and CR/LF folding cannot change them."""
    text = "".join(ch for ch in _raw(value) if _xml_char_allowed(ch))
    text = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&apos;")
    )
    return text.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")


def android_string(value: Any) -> str:
    """Content of an Android <string> resource (the element must carry formatted="false", so a `%`
    is text, not a format specifier): Android's own escapes first, then XML's. Android trims and
    collapses unquoted whitespace, so leading, trailing and repeated spaces are written as \\u0020."""
    text = _raw(value).replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
    text = text.replace("\n", "\\n").replace("\t", "\\t")
    text = re.sub(r"(?<= ) |^ | $", r"\\u0020", text)
    # Android knows no \\r (nor other control escapes): those are written as \\uXXXX.
    text = "".join(ch if ord(ch) >= 0x20 else f"\\u{ord(ch):04x}" for ch in text)
    if text[:1] in ("@", "?"):
        text = "\\" + text  # a leading @ or ? would be read as a resource reference
    return xml(text)


# YAML (1.1, as PyYAML and libyaml read it) allows only these raw in a double-quoted scalar; NEL,
# U+2028 and U+2029 would be folded as line breaks, so they are escaped too.
def _yaml_printable(ch: str) -> bool:
    code = ord(ch)
    return (0x20 <= code <= 0x7E) or (0xA0 <= code <= 0xD7FF) or (0xE000 <= code <= 0xFFFD and code != 0xFEFF) or (
        code >= 0x10000
    ) and ch not in "\u2028\u2029"


def yaml_string(value: Any) -> str:
    """A double-quoted YAML scalar: `\\` and `"` escaped, every other non-printable as \\x, \\u or \\U."""
    out = []
    for ch in _raw(value):
        code = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch in "\u2028\u2029" or not _yaml_printable(ch):
            out.append(f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_string(value: Any) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML forbids raw."""
    return json.dumps(_raw(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def js_string(value: Any) -> str:
    """A JavaScript/TypeScript (and JSON) string literal, quotes included, that also stays inside an
    HTML <script> element: `<`, `>` and `&` are escaped, as are U+2028/U+2029 and lone surrogates."""
    text = json.dumps(_raw(value), ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def markdown(value: Any) -> str:
    """Inline Markdown text: every ASCII punctuation character backslash-escaped (CommonMark allows
    it for all of them, so no emphasis, link, entity, HTML or heading can start), one line."""
    text = " ".join(_raw(value).split())
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)


def markdown_code(value: Any) -> str:
    """A complete Markdown code span: fenced with more backticks than any run inside, one line."""
    text = " ".join(_raw(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def shell_word(value: Any) -> str:
    """One single-quoted POSIX shell word."""
    return "'" + _raw(value).replace("'", "'\"'\"'") + "'"


def human_bytes_filter(value: Any) -> str:
    from sdk_gen.units import human_bytes

    return human_bytes(int(value))


FILTERS = {
    "kotlin_string": kotlin_string,
    "swift_string": swift_string,
    "xml": xml,
    "android_string": android_string,
    "yaml_string": yaml_string,
    "toml_string": toml_string,
    "js_string": js_string,
    "markdown": markdown,
    "markdown_code": markdown_code,
    "shell_word": shell_word,
    "human_bytes": human_bytes_filter,
}


def _environment(template_dir: Path, overlay: Path | None) -> jinja2.Environment:
    # A format's own templates are named by their path; an engine overlay's by "overlay/<path>".
    # Shared templates include the overlay's hooks as "hook/<name>" (`ignore missing` where an engine
    # may add nothing there), and overlay files include pieces their engine shares across formats
    # as "engine/<path>" (the overlay's parent folder).
    # A hook the overlay does not provide falls back to the format's own `_hooks/` (its default text).
    hook_folders = [str(template_dir / HOOKS_FOLDER)]
    prefixed: dict[str, jinja2.BaseLoader] = {}
    if overlay is not None:
        hook_folders.insert(0, str(overlay / HOOKS_FOLDER))
        prefixed = {"overlay": jinja2.FileSystemLoader(str(overlay)), "engine": jinja2.FileSystemLoader(str(overlay.parent))}
    prefixed["hook"] = jinja2.FileSystemLoader(hook_folders)
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(template_dir)), jinja2.PrefixLoader(prefixed)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def template_files(root: Path) -> dict[str, Path]:
    """Every file of a template tree by its path inside the tree. Top-level names starting with
    "_" are sdkgen's own (the hooks folder, a format's manifest), never project files."""
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.relative_to(root).parts[0].startswith("_")
    }


def overlay_clashes(template_dir: Path, overlay: Path) -> list[str]:
    """The overlay's files that would replace the format's own (an overlay only adds files)."""
    return sorted(set(template_files(overlay)) & set(template_files(template_dir)))


def render_tree(
    template_dir: Path, dest: Path, context: Mapping[str, Any], path_vars: Mapping[str, str], overlay: Path | None = None,
) -> list[Path]:
    """Render every template under ``template_dir``, then the engine ``overlay``'s files, into
    ``dest``; return the files written. An overlay adds files: it never replaces a format's own."""
    env = _environment(template_dir, overlay)
    sources = {relative: (relative, path) for relative, path in template_files(template_dir).items()}
    if overlay is not None:
        clashes = overlay_clashes(template_dir, overlay)
        if clashes:
            raise ValueError(f"engine overlay {overlay} replaces the project format's own {clashes[0]}; rename it")
        sources.update({relative: (f"overlay/{relative}", path) for relative, path in template_files(overlay).items()})
    written = []
    for relative in sorted(sources):
        template_name, source = sources[relative]
        target_relative = relative
        for placeholder, value in path_vars.items():
            target_relative = target_relative.replace(placeholder, value)
        if source.suffix == ".j2":
            target = dest / target_relative[: -len(".j2")]
            text = env.get_template(template_name).render(**context)
            if not text.strip():
                continue  # nothing to write for this project (e.g. a section of an optional file)
            if target.suffix == ".bat":
                text = text.replace("\n", "\r\n")  # cmd.exe misreads labels and long lines in LF-only batch files
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
            if source.stat().st_mode & 0o100:
                target.chmod(0o755)  # scripts stay runnable: the template's own bit says which
        else:
            target = dest / target_relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        written.append(target)
    return written
