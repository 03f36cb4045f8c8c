//! Setting up a device with an app password: the configuration profile
//! (signed when apppass.conf names a certificate), Thunderbird's
//! autoconfig, and the settings a person types in by hand. What is set up
//! comes from [`apppass_core::setup::DeviceSetup`], read from apppass.conf.
#![forbid(unsafe_code)]

pub mod autoconfig;
pub mod profile;
#[cfg(feature = "sign")]
pub mod sign;
#[cfg(feature = "sign")]
mod signed;

#[cfg(feature = "sign")]
pub use signed::profile_for;
