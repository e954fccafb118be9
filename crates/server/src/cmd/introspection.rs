//! Server and introspection commands (being written).

use super::{CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_resp::Reply;

pub static COMMANDS: &[Command] = &[];

/// Sets the client's name (CLIENT SETNAME, HELLO SETNAME): no spaces or newlines allowed.
pub fn set_client_name(ctx: &mut Ctx, name: Bytes) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Some(h) = ctx.store.clients.map.get_mut(&ctx.client.id) {
        h.info.name = if name.is_empty() { None } else { Some(name) };
    }
    Ok(Reply::OK)
}
