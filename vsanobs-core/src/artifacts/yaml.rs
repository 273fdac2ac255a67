//! The few YAML scalar forms the rule and rule-test files need, written so that any text
//! survives: plain only when YAML cannot read it as anything but that string.

/// `s` plain when that is unambiguous (`HotReloadSlow`, `5m`, `route:http_requests:rate5m`),
/// else double-quoted.
pub(super) fn scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let lower = s.to_ascii_lowercase();
    (first.is_ascii_alphanumeric() || first == '_')
        && s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-' | '/'))
        // Not a bool, null, number, or a YAML 1.1 sexagesimal / prefixed integer.
        && !matches!(
            lower.as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        )
        && s.parse::<f64>().is_err()
        && !(first.is_ascii_digit() && (s.contains(':') || lower[1..].starts_with(['x', 'o', 'b'])))
}

/// `s` double-quoted, with `"`, `\` and control characters escaped.
pub(super) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` single-quoted (`'` doubled): PromQL selectors keep their `"` and `\` readable.
pub(super) fn single_quoted(s: &str) -> String {
    if s.chars().any(char::is_control) {
        return quoted(s);
    }
    format!("'{}'", s.replace('\'', "''"))
}

/// The value of `key: ` for a PromQL expression: a literal block (`|`, each line indented by
/// `indent` spaces) that keeps the expression's lines as written, or a quoted scalar when a
/// block could not hold it exactly. Ends with a newline.
pub(super) fn block(s: &str, indent: usize) -> String {
    let block_safe = !s.is_empty()
        && !s.starts_with([' ', '\t'])
        && !s.ends_with(['\n', ' ', '\t'])
        && !s.chars().any(|c| c.is_control() && c != '\n');
    if !block_safe {
        return format!("{}\n", quoted(s));
    }
    let pad = " ".repeat(indent);
    let mut out = String::from("|\n");
    for line in s.split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        for plain in [
            "HotReloadSlow",
            "5m",
            "0s",
            "vsanobs-http",
            "a:b:rate5m",
            "hot-reload.rules.yml",
        ] {
            assert_eq!(scalar(plain), plain);
        }
        for quote in [
            "", "true", "No", "1", "1.5", "1e3", "0x1f", "1:20", "a b", "a: b", "#x", "-x", "*a",
        ] {
            assert!(scalar(quote).starts_with('"'), "{quote}");
        }
        assert_eq!(quoted("a\"b\\c\nd\u{1}"), r#""a\"b\\c\nd\u0001""#);
        assert_eq!(single_quoted(r#"x{a="it's"}"#), r#"'x{a="it''s"}'"#);
    }

    #[test]
    fn blocks_keep_lines_or_fall_back_to_quotes() {
        assert_eq!(block("a\n  b", 4), "|\n    a\n      b\n");
        assert_eq!(block(" a", 4), "\" a\"\n");
        assert_eq!(block("a\n", 4), "\"a\\n\"\n");
        assert_eq!(block("", 4), "\"\"\n");
    }
}
