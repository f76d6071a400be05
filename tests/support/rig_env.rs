//! What the rig's server handles (Dovecot, Postfix) share: running an idempotent start
//! script of `infra/` and reading the `KEY=value` env file it writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `infra/<script>` and return the env file it wrote in its run dir: `$dir_var` when
/// set, else `default_dir`. Panics with the script's output when it fails.
pub fn start(script: &str, dir_var: &str, default_dir: &str) -> RigEnv {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("infra")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::env::var(dir_var).unwrap_or_else(|_| default_dir.to_string());
    RigEnv::read(&Path::new(&dir).join("env"))
}

/// The `KEY=value` lines of a rig env file.
pub struct RigEnv {
    path: PathBuf,
    vars: HashMap<String, String>,
}

impl RigEnv {
    pub fn read(path: &Path) -> RigEnv {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RigEnv {
            path: path.to_path_buf(),
            vars,
        }
    }

    /// A value the file must have.
    pub fn get(&self, key: &str) -> &str {
        self.optional(key)
            .unwrap_or_else(|| panic!("{key} missing in {}", self.path.display()))
    }

    pub fn optional(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// A number the file must have.
    pub fn number<T: std::str::FromStr>(&self, key: &str) -> T {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key} in {} is not a number", self.path.display()))
    }
}
