//! fermyon:spin/variables: a component's variables, resolved at start-up (see
//! `crate::variables`), with Spin's error cases.

use crate::variables::VariableError;

use super::fermyon::spin::variables;
use super::InstanceState;

impl variables::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.shared.config.get(&name).map_err(|err| match err {
            VariableError::InvalidName(m) => variables::Error::InvalidName(m),
            VariableError::Undefined(m) => variables::Error::Undefined(m),
            VariableError::Provider(m) => variables::Error::Provider(m),
            VariableError::Other(m) => variables::Error::Other(m),
        })
    }
}
