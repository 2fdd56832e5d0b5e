//! The built-in lab relay configuration: the two-armed lab of DESIGN §3 with
//! documentation addresses only. `xrelayctl translate` uses it when no
//! `--config` is given, and the tests use it too.

use xrelay_engine::{Config, ConfigError};

/// `relay.toml` of the lab relay; interfaces keep their defaults
/// (`xr-v4` / `xr-v6`, MTU 1500).
pub const LAB_CONFIG: &str = xrelay_engine::LAB_TOML;

/// [`LAB_CONFIG`], parsed and validated.
pub fn lab_config() -> Result<Config, ConfigError> {
    Config::from_toml_str(LAB_CONFIG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_config_is_valid() -> Result<(), ConfigError> {
        let cfg = lab_config()?;
        assert!(cfg.sixto4.enabled && cfg.sixto4.anycast && cfg.teredo.enabled);
        assert_eq!(cfg.sixto4.unicast_addr, Some([203, 0, 113, 4].into()));
        assert_eq!(cfg.teredo.addr, Some([203, 0, 113, 5].into()));
        assert_eq!(cfg.teredo.port, 3545);
        assert_eq!(
            cfg.relay.native_addr,
            std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xff)
        );
        assert_eq!(cfg.interfaces, Config::default().interfaces);
        Ok(())
    }
}
