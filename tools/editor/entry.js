// The workbench's editor: CodeMirror 6 with highlighters for a rule set's files (Rhai,
// JSON, CSV), line numbers, history, search and lint markers, exposed as
// window.LookoutEditor.create(parent, text, options).
// Bundled by scripts/build-editor into assets/admin/editor.js (licenses beside it).
import { EditorState, Compartment } from "@codemirror/state";
import { json } from "@codemirror/lang-json";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  StreamLanguage, syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput,
} from "@codemirror/language";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { linter, lintGutter, setDiagnostics } from "@codemirror/lint";

const KEYWORDS = new Set(("let const if else switch while loop do until for in break continue " +
  "return throw try catch fn private import export as global this true false").split(" "));

// Rhai, enough to read rules: comments, strings, `templates`, numbers, keywords.
const rhai = StreamLanguage.define({
  name: "rhai",
  startState: () => ({ inTemplate: false, inBlockComment: false }),
  token(stream, state) {
    if (state.inBlockComment) {
      if (stream.skipTo("*/")) { stream.next(); stream.next(); state.inBlockComment = false; }
      else stream.skipToEnd();
      return "comment";
    }
    if (state.inTemplate) {
      while (!stream.eol()) {
        const ch = stream.next();
        if (ch === "\\") { stream.next(); continue; }
        if (ch === "`") { state.inTemplate = false; break; }
      }
      return "string";
    }
    if (stream.eatSpace()) return null;
    if (stream.match("//")) { stream.skipToEnd(); return "comment"; }
    if (stream.match("/*")) { state.inBlockComment = true; return "comment"; }
    const ch = stream.peek();
    if (ch === '"') {
      stream.next();
      while (!stream.eol()) {
        const c = stream.next();
        if (c === "\\") { stream.next(); continue; }
        if (c === '"') break;
      }
      return "string";
    }
    if (ch === "`") { stream.next(); state.inTemplate = true; return "string"; }
    if (stream.match(/^[0-9][0-9_]*(\.[0-9_]+)?([eE][+-]?[0-9]+)?/)) return "number";
    if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) {
      const word = stream.current();
      if (KEYWORDS.has(word)) return "keyword";
      if (stream.peek() === "(") return "variableName.function";
      return "variableName";
    }
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: "//" } },
});

// CSV as the data files hold it: quoted fields, numbers, separators, a header line.
const csv = StreamLanguage.define({
  name: "csv",
  startState: () => ({ line: 0 }),
  token(stream, state) {
    if (stream.sol() && stream.pos === 0 && state.line++ === 0 && stream.match(/^[^\n]*/)) return "heading";
    if (stream.eat(",")) return "punctuation";
    if (stream.peek() === '"') {
      stream.next();
      while (!stream.eol()) {
        const c = stream.next();
        if (c === '"' && !stream.eat('"')) break;
      }
      return "string";
    }
    if (stream.match(/^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?(?=,|$)/)) return "number";
    stream.match(/^[^,]*/);
    return null;
  },
  blankLine: (state) => { state.line++; },
});

/// The highlighter for a file of a rule set, by its name.
function languageOf(path) {
  if (/\.json$/.test(path || "")) return json();
  if (/\.csv$/.test(path || "")) return csv;
  if (/\.toml$/.test(path || "")) return [];
  return rhai;
}

/// An editor in `parent` holding `text`. `onChange(text)` after each edit; `check(text)`
/// resolves to diagnostics [{line, column, message}] shown at their place.
function create(parent, text, { onChange, check, path } = {}) {
  const language = new Compartment();
  const editable = new Compartment();
  const source = check
    ? linter(async (view) => {
        const doc = view.state.doc;
        const found = await check(doc.toString());
        return found.map((d) => {
          const line = doc.line(Math.min(Math.max(d.line || 1, 1), doc.lines));
          const from = Math.min(line.from + Math.max((d.column || 1) - 1, 0), line.to);
          return { from, to: Math.min(from + 1, line.to), severity: d.severity || "error", message: d.message };
        });
      }, { delay: 400 })
    : [];
  // In a shadow root: there CodeMirror's styles go into a constructed stylesheet
  // (adoptedStyleSheets), which the viewer's Content-Security-Policy (style-src 'self',
  // no inline <style>) allows; in the document they would be an inline <style>, refused.
  const shadow = parent.attachShadow({ mode: "open" });
  const view = new EditorView({
    parent: shadow,
    root: shadow,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(),
        drawSelection(), indentOnInput(), bracketMatching(), highlightActiveLine(),
        highlightSelectionMatches(), syntaxHighlighting(defaultHighlightStyle),
        language.of(languageOf(path)),
        keymap.of([...defaultKeymap, ...historyKeymap, ...searchKeymap, indentWithTab]),
        lintGutter(), source, editable.of(EditorView.editable.of(true)),
        EditorView.theme({
          "&": { minHeight: "24rem", backgroundColor: "#fff", fontSize: "0.9rem" },
          ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace", minHeight: "24rem" },
          "&.cm-focused": { outline: "2px solid #2b6cb0" },
        }),
        EditorView.updateListener.of((u) => { if (u.docChanged && onChange) onChange(u.state.doc.toString()); }),
      ],
    }),
  });
  return {
    view,
    text: () => view.state.doc.toString(),
    /// New text, highlighted as the file `path` is (Rhai, JSON or CSV).
    setText: (t, path) => view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: t },
      effects: language.reconfigure(languageOf(path)),
    }),
    /// Whether the text may be edited (a file deleted in the draft may not).
    setReadOnly: (readOnly) => view.dispatch({ effects: editable.reconfigure(EditorView.editable.of(!readOnly)) }),
  };
}

window.LookoutEditor = { create, setDiagnostics };
