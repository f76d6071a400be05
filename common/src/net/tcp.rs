//! Outbound TCP to mail servers: TCP_NODELAY (IMAP and SMTP are chatty request/response
//! protocols where Nagle's algorithm adds tens of milliseconds), bound to one of `service.localAddresses`
//! when configured so operators control the source IP.

use std::net::SocketAddr;

use crate::config::LocalAddress;
use rand::seq::IndexedRandom;
use tokio::net::{TcpSocket, TcpStream};

use super::NetError;

/// Pick a random local address of the same family as `remote`, if any are configured.
fn pick_local<'a>(local: &'a [LocalAddress], remote: &SocketAddr) -> Option<&'a LocalAddress> {
    let same_family: Vec<&LocalAddress> = local
        .iter()
        .filter(|l| l.ip.is_ipv4() == remote.is_ipv4())
        .collect();
    same_family.choose(&mut rand::rng()).copied()
}

/// Resolve `host` and connect to the first address that answers.
pub async fn connect(host: &str, port: u16, local: &[LocalAddress]) -> Result<TcpStream, NetError> {
    connect_from(host, port, local).await.map(|(s, _)| s)
}

/// Like [`connect`], and also which of `local` the connection is bound to (none when none
/// fits): SMTP greets with that address's hostname, the name the receiving server sees the
/// connection come from.
pub async fn connect_from<'a>(
    host: &str,
    port: u16,
    local: &'a [LocalAddress],
) -> Result<(TcpStream, Option<&'a LocalAddress>), NetError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| NetError::new(format!("Failed to resolve {host}: {e}")))?
        .collect();
    let mut last = format!("No address found for {host}");
    for addr in addrs {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        let bound = pick_local(local, &addr);
        if let Some(l) = bound
            && let Err(e) = socket.bind(SocketAddr::new(l.ip, 0))
        {
            last = format!("Failed to bind local address {}: {e}", l.ip);
            continue;
        }
        socket.set_nodelay(true)?;
        match socket.connect(addr).await {
            Ok(stream) => return Ok((stream, bound)),
            Err(e) => last = format!("Failed to connect to {addr}: {e}"),
        }
    }
    Err(NetError::new(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_local_address_of_the_right_family() {
        let local = vec![
            LocalAddress {
                ip: "127.0.0.2".parse().unwrap(),
                hostname: None,
            },
            LocalAddress {
                ip: "::1".parse().unwrap(),
                hostname: None,
            },
        ];
        let v4: SocketAddr = "10.0.0.1:143".parse().unwrap();
        assert_eq!(pick_local(&local, &v4), Some(&local[0]));
        assert_eq!(pick_local(&[], &v4), None);
    }
}
