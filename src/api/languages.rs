//! Placeholder.

use super::routes::Routes;

pub(super) fn routes(_r: &mut Routes) {}
