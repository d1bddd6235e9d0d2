//! Hostile input: YAML nesting, versions that are not versions, secrets in URLs, odd tree entries.
