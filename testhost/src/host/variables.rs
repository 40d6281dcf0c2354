//! Variables in both of Spin's versions: fermyon:spin/variables@2.0.0 (spin-sdk 5) and
//! spin:variables/variables@3.0.0 (spin-sdk 6 and 7, async). Both read the component's variables
//! as resolved at start-up (see `crate::variables`) and fail with the same error values.

use wasmtime::component::{Accessor, HasSelf};

use crate::variables as resolved;

use super::fermyon::spin::variables as v2;
use super::spin::variables::variables as v3;
use super::InstanceState;

convert_variant!(resolved::VariableError => v2::Error { InvalidName(m), Undefined(m), Provider(m), Other(m) });
convert_variant!(resolved::VariableError => v3::Error { InvalidName(m), Undefined(m), Provider(m), Other(m) });

impl v2::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<String, v2::Error> {
        Ok(self.shared.config.get(&name)?)
    }
}

impl v3::Host for InstanceState {}

impl<T: Send> v3::HostWithStore<T> for HasSelf<InstanceState> {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, v3::Error> {
        Ok(accessor.with(|mut access| access.get().shared.config.get(&name))?)
    }
}

#[cfg(test)]
mod tests {
    use super::v2::Host as _;
    use super::v3::HostWithStore as _;
    use super::*;
    use crate::host::test_support::{instance, run_concurrent};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_versions_read_the_same_values_and_errors() {
        let names = ["port", "missing", "Not-A-Name"];
        let mut state = instance("127.0.0.1", "6390", "");
        let mut from_v2 = Vec::new();
        for name in names {
            from_v2.push(format!("{:?}", state.get(name.to_string()).await));
        }
        let from_v3 = run_concurrent(state, async |accessor| {
            let mut seen = Vec::new();
            for name in names {
                let got = HasSelf::<InstanceState>::get(accessor, name.to_string()).await;
                seen.push(format!("{got:?}"));
            }
            seen
        })
        .await;
        assert_eq!(from_v2, from_v3);
        assert_eq!(from_v2[0], "Ok(\"6390\")");
        assert!(
            from_v2[1].starts_with("Err(Error::Undefined("),
            "{}",
            from_v2[1]
        );
        assert!(
            from_v2[2].starts_with("Err(Error::InvalidName("),
            "{}",
            from_v2[2]
        );
    }
}
