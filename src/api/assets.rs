//! Placeholder.

use super::routes::Routes;

pub(super) fn routes(_r: &mut Routes) {}

/// Placeholder cache.
#[derive(Default)]
pub struct ListCache {}
