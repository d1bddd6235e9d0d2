//! The work tree: `init` checks out what it committed.
use super::{git_err, Repo};
use crate::error::Failure;

impl Repo {
    /// Writes HEAD's tree into the work tree and the index, overwriting what is there.
    pub fn checkout_head_force(&self) -> Result<(), Failure> {
        let mut opts = git2::build::CheckoutBuilder::new();
        opts.force();
        self.git
            .checkout_head(Some(&mut opts))
            .map_err(git_err("cannot check out the new commit"))
    }
}
