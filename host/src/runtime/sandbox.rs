//! What a sandbox reaches of the host: a program's [`Grants`] turned into
//! WASI capabilities, for sequence instances and render frames alike.
//!
//! Without grants a guest gets no preopened directory, no environment
//! variable and no network. With them it gets exactly: its package's files
//! read-only at [`PACKAGE_DIR`], a fresh scratch directory at
//! [`SCRATCH_DIR`] (removed when the instance or frame ends), the granted
//! environment variables, and outbound TCP to the addresses the granted
//! `HOST:PORT`s resolve to when it starts.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::package::{Grants, HostPort};

/// Where the package's files appear in the guest (read-only).
pub const PACKAGE_DIR: &str = "/package";
/// Where the scratch directory appears in the guest (read-write).
pub const SCRATCH_DIR: &str = "/scratch";
/// Longest wait for one granted host's DNS lookup when an instance starts.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A program's grants and the package directory `files` refers to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sandbox {
    pub(crate) grants: Grants,
    pub(crate) package_dir: Option<PathBuf>,
    /// A source package run by a language runner: its own files are its code, so they
    /// are readable without a `files` grant (read-only, nothing else of the host).
    pub(crate) source: bool,
}

/// Holds what one instance or frame was given that must outlive its store:
/// dropping it removes the scratch directory.
#[must_use = "dropping the guard removes the scratch directory"]
pub(crate) struct SandboxGuard {
    _scratch: Option<TempDir>,
}

impl Sandbox {
    /// Adds the granted capabilities to `wasi` and denies all others.
    /// Scratch directories are made under `scratch_root`. Returns the guard
    /// and warnings for the instance log (hosts that did not resolve).
    pub(crate) async fn apply(
        &self,
        wasi: &mut WasiCtxBuilder,
        scratch_root: &Path,
    ) -> Result<(SandboxGuard, Vec<String>), String> {
        let grants = &self.grants;
        if grants.files || self.source {
            let dir = self.package_dir.as_deref().ok_or_else(|| {
                "files are granted but the package directory is unknown".to_string()
            })?;
            wasi.preopened_dir(dir, PACKAGE_DIR, FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open the package's files: {e:#}"))?;
        }
        let scratch = if grants.scratch_mb > 0 {
            let dir = make_scratch(scratch_root)
                .map_err(|e| format!("cannot create a scratch directory: {e}"))?;
            wasi.preopened_dir(dir.path(), SCRATCH_DIR, FsPerms::ReadWrite)
                .map_err(|e| format!("cannot open the scratch directory: {e:#}"))?;
            Some(dir)
        } else {
            None
        };
        for (name, value) in &grants.env {
            wasi.env(name, value);
        }
        let warnings = allow_hosts(wasi, &grants.hosts).await;
        Ok((SandboxGuard { _scratch: scratch }, warnings))
    }

    /// The package directory a guest may read through `source-package.read-file`, if any.
    pub(crate) fn package_files(&self) -> Option<PathBuf> {
        if self.grants.files || self.source {
            self.package_dir.clone()
        } else {
            None
        }
    }
}

fn make_scratch(root: &Path) -> std::io::Result<TempDir> {
    std::fs::create_dir_all(root)?;
    tempfile::Builder::new().prefix("scratch-").tempdir_in(root)
}

/// Outbound TCP to exactly the granted destinations: TCP (and, for host
/// names, name lookup) is enabled only when hosts are granted, and the
/// address check lets a socket connect only to their resolved addresses.
/// UDP, listening and accepting stay denied.
async fn allow_hosts(wasi: &mut WasiCtxBuilder, hosts: &[HostPort]) -> Vec<String> {
    wasi.allow_udp(false);
    if hosts.is_empty() {
        wasi.allow_tcp(false).allow_ip_name_lookup(false);
        return Vec::new();
    }
    let lookups = hosts.iter().map(resolve);
    let mut allowed = HashSet::new();
    let mut warnings = Vec::new();
    for (host, result) in hosts.iter().zip(futures::future::join_all(lookups).await) {
        match result {
            Ok(addrs) => allowed.extend(addrs),
            Err(e) => warnings.push(format!(
                "granted host {host} did not resolve ({e}); connections to it are refused"
            )),
        }
    }
    let allowed = Arc::new(allowed);
    wasi.allow_tcp(true)
        .allow_ip_name_lookup(hosts.iter().any(|h| h.ip().is_none()))
        .socket_addr_check(move |addr, use_| {
            let ok = match use_ {
                SocketAddrUse::TcpConnect => allowed.contains(&addr),
                // `connect` first checks the implicit bind to the wildcard address.
                SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                _ => false,
            };
            Box::pin(async move { ok })
        });
    warnings
}

/// The addresses of one granted destination.
async fn resolve(host: &HostPort) -> Result<Vec<SocketAddr>, String> {
    if let Some(ip) = host.ip() {
        return Ok(vec![SocketAddr::new(ip, host.port())]);
    }
    let lookup = tokio::net::lookup_host((host.host(), host.port()));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.map(unmap).collect()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs())),
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address a guest would dial.
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}
