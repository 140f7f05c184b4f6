pub struct Z;

#[macro_export]
macro_rules! make_x {
    () => {
        $crate::x::X
    };
}
