pub struct Builder;

impl Builder {
    pub fn build(self) -> crate::client::Client {
        crate::client::Client(self)
    }
}
