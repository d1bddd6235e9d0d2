//! Where git2's ids meet the model's: `Repo` takes and returns `CommitId` and `EntryId`, and
//! converts here, so nothing past `repo::` names git2.
use crate::model::{CommitId, EntryId};
use git2::Oid;

/// git2 is built for SHA-1 repositories, whose ids are 20 bytes.
fn bytes(o: Oid) -> [u8; 20] {
    o.as_bytes()
        .try_into()
        .expect("git2 object ids are 20 bytes")
}

fn oid(b: &[u8; 20]) -> Oid {
    Oid::from_bytes(b).expect("20 bytes make a git2 object id")
}

impl From<Oid> for CommitId {
    fn from(o: Oid) -> Self {
        CommitId::from_bytes(bytes(o))
    }
}

impl From<CommitId> for Oid {
    fn from(c: CommitId) -> Self {
        oid(c.as_bytes())
    }
}

impl From<Oid> for EntryId {
    fn from(o: Oid) -> Self {
        EntryId::from_bytes(bytes(o))
    }
}

impl From<EntryId> for Oid {
    fn from(e: EntryId) -> Self {
        oid(e.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cross_the_boundary_unchanged() {
        let o = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let c = CommitId::from(o);
        assert_eq!(c.to_string(), o.to_string());
        assert_eq!(Oid::from(c), o);
        assert_eq!(Oid::from(EntryId::from(o)), o);
    }
}
