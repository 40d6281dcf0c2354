//! Spin's expression rules: variable names (`Key`) and `{{ name }}` templates.
//!
//! Both the manifest's component variables and its `allowed_outbound_hosts` entries are
//! templates over the application's variables; the rules here follow Spin's
//! `spin-expressions` crate so that a name or template Spin rejects is rejected here too.

use std::fmt;

/// A failure of name validation or template parsing, worded like Spin's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    InvalidName(String),
    InvalidTemplate(String),
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExprError::InvalidName(msg) => write!(f, "invalid variable name: {msg}"),
            ExprError::InvalidTemplate(msg) => write!(f, "invalid variable template: {msg}"),
        }
    }
}

impl std::error::Error for ExprError {}

/// Checks a variable name: lower-case ASCII letters, digits and single underscores,
/// starting with a letter and ending with a letter or digit.
pub fn validate_key(key: &str) -> Result<(), ExprError> {
    let reason = if key.is_empty() {
        Some("must not be empty".to_string())
    } else if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        Some(format!(
            "invalid character {bad:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        ))
    } else if !key.as_bytes()[0].is_ascii_lowercase() {
        Some("must start with a lowercase ASCII letter".to_string())
    } else if !key.as_bytes()[key.len() - 1].is_ascii_alphanumeric() {
        Some("must end with a lowercase ASCII letter or digit".to_string())
    } else if key.contains("__") {
        Some("must not contain multiple consecutive underscores".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ExprError::InvalidName(format!("{key:?}: {reason}"))),
        None => Ok(()),
    }
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Variable(String),
}

/// A parsed template: literal text and `{{ name }}` references, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`. An opening `{{` without a closing `}}` is an error; the name
    /// between the braces is trimmed but not validated here (Spin checks it against
    /// the declared variables instead).
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix("{{") {
                let Some((name, after_close)) = after_open.split_once("}}") else {
                    return Err(ExprError::InvalidTemplate(
                        "unmatched '{{' in template".to_string(),
                    ));
                };
                parts.push(Part::Variable(name.trim().to_string()));
                rest = after_close;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Literal(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Self { parts })
    }

    /// True when the template references no variable.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The names the template references, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Expands the template, looking each name up with `lookup`.
    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable(name) => out.push_str(&lookup(name)?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_keys() {
        for key in ["a", "redis_port", "a1b2", "a_1_b"] {
            assert_eq!(validate_key(key), Ok(()), "{key}");
        }
        for key in [
            "",
            "aX",
            "1a",
            "_a",
            "a_",
            "a__b",
            "a-b",
            "a.b",
            "REDIS_PORT",
        ] {
            assert!(validate_key(key).is_err(), "{key}");
        }
    }

    #[test]
    fn key_error_names_the_reason() {
        let err = validate_key("Redis").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid variable name: \"Redis\": invalid character 'R'. Variable names may contain only lower-case letters, numbers, and underscores."
        );
        assert_eq!(
            validate_key("a__b").unwrap_err().to_string(),
            "invalid variable name: \"a__b\": must not contain multiple consecutive underscores"
        );
    }

    #[test]
    fn parses_literals_and_variables() {
        let t = Template::parse("redis://{{ redis_host }}:{{redis_port}}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Literal("redis://".into()),
                Part::Variable("redis_host".into()),
                Part::Literal(":".into()),
                Part::Variable("redis_port".into()),
            ]
        );
        assert!(!t.is_literal());
        assert!(Template::parse("plain").unwrap().is_literal());
        assert!(Template::parse("").unwrap().is_literal());
    }

    #[test]
    fn unmatched_braces_are_an_error() {
        let err = Template::parse("{{ a }} {{ b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid variable template: unmatched '{{' in template"
        );
    }

    #[test]
    fn renders_with_lookup() {
        let t = Template::parse("{{ a }}-{{ b }}!").unwrap();
        let out: Result<String, ()> = t.render(|name| Ok(name.to_uppercase()));
        assert_eq!(out.unwrap(), "A-B!");
        let failed: Result<String, String> = t.render(|name| Err(name.to_string()));
        assert_eq!(failed.unwrap_err(), "a");
    }
}
