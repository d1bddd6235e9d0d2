//! What the gate prints and decides: workflow commands in untrusted text, JIRA fail-closed, large pushes.
