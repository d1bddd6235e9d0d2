use crate::error::Exit;

pub fn run() -> anyhow::Result<Exit> {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&crate::config::schema::schemas())?
    );
    Ok(Exit::Ok)
}
