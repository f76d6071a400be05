//! The owner and changes state of an account: two reads sent at once on the multiplexed
//! connection (the trait's default), already one round trip's wait.

use super::RedisStore;
use crate::store::CommandRouteStore;

impl CommandRouteStore for RedisStore {}
