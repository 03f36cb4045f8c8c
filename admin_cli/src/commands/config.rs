use crate::cli::{Cli, ConfigArgs, Setting};
use crate::error::CliError;
use apppass_core::notify;
use apppass_core::settings::{self, show_idle};

fn shown(list: &[String]) -> String {
    if list.is_empty() {
        "none".into()
    } else {
        list.join(",")
    }
}

pub fn run(cli: &Cli, a: &ConfigArgs) -> Result<(), CliError> {
    let mut store = super::open(cli)?;
    match (a.name, a.value.as_deref()) {
        (None, None) => {
            let all = settings::read(store.as_mut())?;
            println!("max-active {}", all.max_active);
            println!(
                "self-service-services {}",
                shown(&all.self_service_services)
            );
            println!("idle-expiry {}", show_idle(all.idle_expiry));
            println!(
                "entitled-group {}",
                all.entitled_group.as_deref().unwrap_or("none")
            );
            let n = notify::settings(store.as_mut())?;
            println!("notify {}", if n.mail { "mail" } else { "off" });
            println!("notify-from {}", n.from.as_deref().unwrap_or("none"));
            println!("notify-domain {}", n.domain.as_deref().unwrap_or("none"));
            // What apppass.conf says devices are set up with.
            for (key, value) in super::device_setup(cli)?.shown() {
                println!("{key} {value}");
            }
        }
        (Some(Setting::IdleExpiry), None) => {
            println!("{}", show_idle(settings::idle_expiry(store.as_mut())?))
        }
        (Some(Setting::IdleExpiry), Some(v)) => {
            let secs = settings::parse_idle(v).map_err(CliError::Usage)?;
            settings::set_idle_expiry(store.as_mut(), secs)?;
            match secs {
                Some(_) => eprintln!(
                    "apppass: app passwords not used for {} now stop working (counted from creation when never used)",
                    show_idle(secs)
                ),
                None => eprintln!("apppass: idle expiry is off"),
            }
            apppass_effects::audit::record(&format!("set idle-expiry={}", show_idle(secs)));
        }
        (Some(Setting::MaxActive), None) => {
            println!("{}", settings::max_active(store.as_mut())?)
        }
        (Some(Setting::SelfServiceServices), None) => {
            println!(
                "{}",
                shown(&settings::self_service_services(store.as_mut())?)
            )
        }
        (Some(Setting::MaxActive), Some(v)) => {
            let n: u32 = v.parse().map_err(|_| {
                CliError::Usage(format!(
                    "max-active takes a number, not '{}'",
                    apppass_core::escape::for_message(v)
                ))
            })?;
            settings::set_max_active(store.as_mut(), n)?;
            eprintln!("apppass: max-active is now {n}");
            apppass_effects::audit::record(&format!("set max-active={n}"));
        }
        (Some(Setting::SelfServiceServices), Some(v)) => {
            let list: Vec<String> = if v == "none" {
                Vec::new()
            } else {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            let set = settings::set_self_service_services(store.as_mut(), Some(&list))?;
            if set.is_empty() {
                eprintln!("apppass: self-service is off");
            } else {
                eprintln!(
                    "apppass: users may now make their own app passwords for {} (through apppassd)",
                    set.join(", ")
                );
            }
            apppass_effects::audit::record(&format!("set self-service-services={}", shown(&set)));
        }
        (Some(Setting::EntitledGroup), None) => println!(
            "{}",
            settings::entitled_group(store.as_mut())?.unwrap_or_else(|| "none".into())
        ),
        (Some(Setting::EntitledGroup), Some(v)) => {
            let group = (v != "none").then_some(v);
            settings::set_entitled_group(store.as_mut(), group)?;
            match group {
                Some(g) => eprintln!(
                    "apppass: only members of the group {} may have app passwords now; the passwords of others are refused at login until they join",
                    apppass_core::escape::for_message(g)
                ),
                None => eprintln!("apppass: every user may have app passwords"),
            }
            apppass_effects::audit::record(&format!(
                "set entitled-group={}",
                apppass_core::escape::field(group.unwrap_or("none"))
            ));
        }
        (Some(Setting::Notify), None) => println!(
            "{}",
            if notify::settings(store.as_mut())?.mail {
                "mail"
            } else {
                "off"
            }
        ),
        (Some(Setting::Notify), Some(v)) => {
            let mail = match v {
                "mail" => true,
                "off" => false,
                _ => return Err(CliError::Usage("notify takes mail or off".into())),
            };
            notify::set_mode(store.as_mut(), mail)?;
            eprintln!(
                "apppass: {}",
                if mail {
                    "account holders are mailed from now on what happens to their app passwords"
                } else {
                    "no more notifications are mailed"
                }
            );
            apppass_effects::audit::record(&format!("set notify={v}"));
        }
        (Some(Setting::NotifyFrom), None) => println!(
            "{}",
            notify::settings(store.as_mut())?
                .from
                .unwrap_or_else(|| "none".into())
        ),
        (Some(Setting::NotifyDomain), None) => println!(
            "{}",
            notify::settings(store.as_mut())?
                .domain
                .unwrap_or_else(|| "none".into())
        ),
        (Some(which @ (Setting::NotifyFrom | Setting::NotifyDomain)), Some(v)) => {
            let value = (v != "none").then_some(v);
            let name = if which == Setting::NotifyFrom {
                notify::set_from(store.as_mut(), value)?;
                "notify-from"
            } else {
                notify::set_domain(store.as_mut(), value)?;
                "notify-domain"
            };
            eprintln!("apppass: {name} is now {v}");
            apppass_effects::audit::record(&format!(
                "set {name}={}",
                apppass_core::escape::field(v)
            ));
        }
        (Some(Setting::NotifyTest), None) => {
            return Err(CliError::Usage(
                "name the user to send a test mail to: config notify-test USER".into(),
            ))
        }
        (Some(Setting::NotifyTest), Some(user)) => {
            apppass_core::policy::check_user(user).map_err(|e| CliError::Usage(e.to_string()))?;
            let now = super::now();
            notify::collect::queue_now(
                store.as_mut(),
                user,
                &notify::message::Notification::Test,
                &format!("test:{user}:{now}"),
                now,
            )?;
            drop(store);
            super::notify_now(cli, true)?;
            return Ok(());
        }
        (None, Some(_)) => {
            return Err(CliError::Usage(
                "name the setting to change, e.g. 'config max-active 30'".into(),
            ))
        }
    }
    Ok(())
}
