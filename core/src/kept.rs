//! A value an instance keeps for its later requests (its settings, its Redis connection, its
//! key-value bucket), shared by the requests it serves at once without a borrow held across an
//! await.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Failure;

pub struct Kept<T>(RefCell<Option<Rc<T>>>);

impl<T> Default for Kept<T> {
    fn default() -> Self {
        Kept(RefCell::new(None))
    }
}

impl<T> Kept<T> {
    pub fn get(&self) -> Option<Rc<T>> {
        self.0.borrow().clone()
    }

    /// Keeps `value`, unless a request that ran alongside kept one first: then that one.
    pub fn keep(&self, value: T) -> Rc<T> {
        self.0
            .borrow_mut()
            .get_or_insert_with(|| Rc::new(value))
            .clone()
    }

    /// Forgets `failed` if it is still the kept value (another request may have replaced it).
    pub fn forget(&self, failed: &Rc<T>) {
        let mut kept = self.0.borrow_mut();
        if kept.as_ref().is_some_and(|value| Rc::ptr_eq(value, failed)) {
            *kept = None;
        }
    }

    /// Calls `call` on the kept value, made with `open` if none is kept; a failed call forgets
    /// the value it was made on. No borrow is held across an await, so requests interleave.
    pub async fn call<R>(
        &self,
        open: impl AsyncFnOnce() -> Result<T, Failure>,
        call: impl AsyncFnOnce(&T) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let value = match self.get() {
            Some(value) => value,
            None => self.keep(open().await?),
        };
        let outcome = call(&value).await;
        if outcome.is_err() {
            self.forget(&value);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_forgets_only_the_handle_it_happened_on() {
        let kept = Kept::default();
        let first = kept.keep(1);
        let failed_earlier = Rc::new(0);
        kept.forget(&failed_earlier);
        assert_eq!(kept.get(), Some(first.clone()));
        kept.forget(&first);
        assert_eq!(kept.get(), None);
    }
}
