use switchboard_plugin_sdk::prelude::*;
struct P;
impl Plugin for P {
    fn manifest() -> Manifest {
        Manifest::new("crm", "0.1.0", "stub").intent(Intent::read("crm.stub", "stub").examples(["stub"]).permission("x_read"))
    }
    fn handle(_r: Request) -> Result<Answer, PluginError> { Ok(Answer::text("stub")) }
}
export_plugin!(P);
