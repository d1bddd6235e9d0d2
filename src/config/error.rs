use serde::Serialize;
use std::fmt;

/// One located problem in a policy or descriptor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ConfigError {
    /// `message` is any text or typed error (a `ValueError`, a `DescriptorPathError`).
    pub fn new(file: &str, message: impl fmt::Display) -> Self {
        ConfigError {
            file: file.to_string(),
            line: None,
            column: None,
            field: None,
            message: message.to_string(),
            hint: None,
        }
    }
    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        let f = field.into();
        self.field = if f.is_empty() { None } else { Some(f) };
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// `file:line:column`, as editors and CI annotations expect.
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location())?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A scalar a field does not take (a quantity, a duration, a port range), with the valid
/// forms; a located `ConfigError` once serde names the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{0}` is not a quantity: use {valid}", valid = super::quantity::VALID_FORMS)]
    NotAQuantity(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}` is finer than a thousandth of a unit")]
    TooFine(String),
    #[error("`{0}` is not a duration: {valid}", valid = super::duration::VALID_UNITS)]
    NotADuration(String),
    #[error("`{0}` is not a port or range: write 443 or \"8000-8999\"")]
    NotAPortRange(String),
}

/// Why a version cannot be a descriptor's `version` (`check_version`): downstream jobs put
/// it into commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("the version is empty")]
    Empty,
    #[error("the version is {chars} characters long, over {max}", max = super::descriptor::MAX_VERSION_CHARS)]
    TooLong { chars: usize },
    #[error("version `{shown}` does not start with a letter or digit")]
    BadStart { shown: String },
    #[error("version `{shown}` holds `{c}`, which has no place in a version")]
    BadChar { shown: String, c: String },
    #[error("`{0}` is YAML's null, not a version")]
    Null(String),
}

/// Why a path under `services/` is not a descriptor (`service_name_of`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorPathError {
    #[error("{0} is not under {dir}/", dir = super::SERVICES_DIR)]
    NotUnderServices(String),
    #[error("descriptors live directly under services/, not in sub-folders")]
    SubFolder,
    #[error("rename it to services/{0}.yaml: descriptors end in .yaml")]
    YmlSuffix(String),
    #[error("only <name>.yaml descriptors belong in services/")]
    NotYaml,
    #[error("`{0}` is not a valid service name: use lower-case letters, digits and '-', starting with a letter")]
    BadName(String),
}

/// Every problem found in a set of files: validation reports all of them, not the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn one(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} configuration problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
