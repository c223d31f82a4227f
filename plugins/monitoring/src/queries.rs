//! The monitoring plugin's manifest: intents with training examples, and
//! the named queries an admin reviews and grants.

use switchboard_plugin_sdk::prelude::*;

const CUSTOMER_COLUMNS: &str = "account_code, name, email, phone, plan_code, region, status";

pub fn manifest() -> Manifest {
    let customer = ["customer", "customer_name"];
    let lookup = [
        "monitoring.customer_by_code",
        "monitoring.customers_by_name",
    ];
    Manifest::new("monitoring", env!("CARGO_PKG_VERSION"), "Outages, connections, usage and network health")
        .intent(
            Intent::read("monitoring.outages", "Lists active outages, optionally in a region")
                .examples([
                    "is there an outage",
                    "any network problems in the east",
                    "outages in the west region",
                    "is service down anywhere",
                    "are customers in the north affected by an outage",
                    "what incidents are ongoing",
                    "known outages right now",
                    "is there a disruption in central",
                    "any downtime reported",
                    "network down in the south?",
                    "any outages in the north",
                    "are there any outages",
                    "is the network down in the south",
                    "current outages",
                    "show service disruptions in the east",
                    "is there an outage in central",
                    "what's down right now",
                    "any known incidents in the western region",
                    "list active outages",
                    "is anything broken in the network",
                    "how about the eastern region",
                    "is there a network failure in the east",
                    "are we seeing service interruptions anywhere",
                    "any fibre cuts in the south",
                    "is the broadband down in the west",
                    "are there major incidents affecting customers",
                    "reports of no service in central",
                    "has anything failed in the south",
                    "phones are ringing off the hook in the north, is there a fault",
                    "lots of customers calling from central, anything going on",
                    "any major incident on the network at the moment",
                    "are we aware of a fault affecting the east",
                ])
                .optional(["region"])
                .permission("network_read")
                .queries(["monitoring.active_outages"]),
        )
        .intent(
            Intent::read("monitoring.connection_status", "Shows whether a customer's connection is up")
                .examples([
                    "when was HJK310 last online",
                    "last time MNB778 was connected",
                    "ping EDC248's modem",
                    "ping the router of Lena Novak",
                    "is GHJ607's router reachable",
                    "has Tom Becker's ONT been seen today",
                    "is the router at account CVB157 responding",
                    "check if Patel Hardware's modem is up",
                    "is HJK310 connected",
                    "is Lena Novak online right now",
                    "check whether MNB778 has internet",
                    "connection check for Tom Becker",
                    "is EDC248's modem up",
                    "has Patel Hardware lost connection",
                    "is GHJ607 offline",
                    "status of the line for CVB157",
                    "can you see Sofia Rossi's router online",
                    "is ABC123 online",
                    "check the connection of KLM204",
                    "is John Smith's internet working",
                    "connection status for customer QWE555",
                    "why is Garcia Logistics offline",
                    "is the line of account ZTR991 up",
                    "does DEF456 have connectivity",
                    "check if Maria Lopez's router is connected",
                    "is customer ABC123 connected",
                    "diagnose the connection for KLM204",
                    "is HJK310 reachable",
                    "can we reach Lena Novak's modem",
                    "is MNB778's line in sync",
                    "has Tom Becker got a working connection",
                    "is EDC248 up or down",
                    "link status for Patel Hardware",
                    "last contact from the CPE at HJK310",
                    "when did Lena Novak's router last check in",
                    "is there a LOS alarm on EDC248's ONT",
                    "are they even connected",
                    "has Patel Hardware's line dropped",
                    "no sync on MNB778's modem?",
                ])
                .requires_one_of(customer)
                .permission("network_read")
                .queries(lookup.into_iter().chain(["monitoring.devices_by_customer", "monitoring.active_outages"])),
        )
        .intent(
            Intent::read("monitoring.usage", "Shows a customer's data usage")
                .examples([
                    "how much data has HJK310 used",
                    "usage of Lena Novak this month",
                    "MNB778 data consumption",
                    "how many GB did Tom Becker download last month",
                    "bandwidth used by EDC248",
                    "traffic for Patel Hardware over the last 6 months",
                    "data usage of GHJ607 in march",
                    "has CVB157 used a lot of data",
                    "data usage for ABC123",
                    "how much data did KLM204 use last month",
                    "bandwidth consumption of John Smith",
                    "show usage for customer QWE555 this month",
                    "how many gigabytes has Garcia Logistics used",
                    "is ZTR991 over their data cap",
                    "traffic stats for DEF456 in March",
                    "Maria Lopez's internet usage",
                    "download volume for ABC123 over the last 3 months",
                    "and their usage",
                    "how much did HJK310 download this month",
                    "Lena Novak's upload and download totals",
                    "data volume used by MNB778 in october",
                    "is Tom Becker a heavy user",
                    "gigabytes consumed by EDC248",
                    "has Lena Novak hit the fair use limit",
                    "is CVB157 close to going over the cap",
                    "how much headroom does Tom Becker have left on his allowance",
                ])
                .requires_one_of(customer)
                .optional(["period"])
                .permission("network_read")
                .queries(lookup.into_iter().chain(["monitoring.usage", "monitoring.plan_cap"])),
        )
        .intent(
            Intent::read("monitoring.network_health", "Summarises network health by region")
                .examples([
                    "network status",
                    "what's the health of the network in the west",
                    "is the network ok",
                    "availability of the network today",
                    "how many devices are down",
                    "any latency issues in the north",
                    "network performance overview",
                    "is there packet loss in the east",
                    "how stable is the network in central",
                    "network health",
                    "how is our network performing",
                    "network status in the north",
                    "how healthy is the east region",
                    "give me a network overview",
                    "what's the availability in central",
                    "overall network performance",
                    "how many devices are offline in the south",
                    "network dashboard for the west",
                    "is the network stable",
                    "jitter and latency in the east",
                    "how congested is the network in the north",
                    "network quality in the south",
                    "network availability percentage by region",
                    "are any regions degraded",
                    "share of devices online per region",
                    "how does the network look right now",
                    "how's the network doing today",
                    "core link utilisation in the south",
                    "backhaul utilization by region",
                    "how loaded is the core network",
                    "backbone status",
                    "backbone utilisation in the west",
                    "congestion levels on the network",
                    "are the uplinks congested in the east",
                    "peak hour congestion across regions",
                    "how's the core looking",
                    "is the network coping with the evening peak",
                ])
                .optional(["region"])
                .permission("network_read")
                .queries(["monitoring.health_by_region", "monitoring.active_outages"]),
        )
        .intent(
            Intent::read("monitoring.device_status", "Shows one network device's status")
                .examples([
                    "check switch SW-NORTH-01",
                    "ping OLT-SOUTH-02",
                    "is router CORE-RTR-1 responding",
                    "how is OLT-CENTRAL-01 doing",
                    "status of OLT-WEST-01",
                    "is SW-NORTH-01 online",
                    "check device ONT-HJK310-1",
                    "is core-rtr-1 up",
                    "what's the status of olt-south-01",
                    "is the switch SW-EAST-03 healthy",
                    "when did OLT-EAST-02 last respond",
                    "device CPE-MNB778-1 status",
                    "status of device OLT-NORTH-01",
                    "is olt-south-02 up",
                    "check router CPE-ABC123-1",
                    "what's the state of switch SW-EAST-03",
                    "is device OLT-CENTRAL-01 online",
                    "when was OLT-WEST-02 last seen",
                    "show device ONT-KLM204-1",
                    "ping olt-north-01",
                    "health of device SW-NORTH-01",
                    "is OLT-NORTH-02 reachable",
                    "can you ping CPE-HJK310-1",
                    "state of OLT-SOUTH-01",
                    "is SW-WEST-02 down",
                    "last heartbeat from ONT-MNB778-1",
                    "reboot history of OLT-NORTH-03",
                    "uptime of SW-EAST-02",
                    "when did CORE-RTR-2 last restart",
                    "any alarms on OLT-WEST-04",
                    "is SW-SOUTH-01 flapping",
                    "CPU load and temperature of BNG-NORTH-1",
                ])
                .requires("device")
                .permission("network_read")
                .queries(["monitoring.device"]),
        )
        .query(NamedQuery::read(
            "monitoring.customer_by_code",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND account_code = :code"),
        ).describe("One customer by account code"))
        .query(NamedQuery::read(
            "monitoring.customers_by_name",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND LOWER(name) LIKE :pattern ORDER BY name, account_code LIMIT 20"),
        ).describe("Customers whose name matches a pattern"))
        .query(NamedQuery::read(
            "monitoring.active_outages",
            "SELECT outage_id, region, status, severity, description, started_at, affected_customers FROM outages \
             WHERE tenant_id = :tenant_id AND status <> 'resolved' AND (:region IS NULL OR region = :region) \
             ORDER BY started_at DESC",
        ).describe("Outages not yet resolved"))
        .query(NamedQuery::read(
            "monitoring.devices_by_customer",
            "SELECT device_id, account_code, kind, region, status, last_seen FROM devices \
             WHERE tenant_id = :tenant_id AND account_code = :code ORDER BY device_id",
        ).describe("A customer's devices"))
        .query(NamedQuery::read(
            "monitoring.device",
            "SELECT device_id, account_code, kind, region, status, last_seen FROM devices \
             WHERE tenant_id = :tenant_id AND device_id = :id",
        ).describe("One device"))
        .query(NamedQuery::read(
            "monitoring.usage",
            "SELECT month, download_gb, upload_gb FROM usage_records \
             WHERE tenant_id = :tenant_id AND account_code = :code AND month >= :from AND month <= :to ORDER BY month",
        ).describe("A customer's monthly usage in a range of months"))
        .query(NamedQuery::read(
            "monitoring.plan_cap",
            "SELECT data_cap_gb FROM plans WHERE tenant_id = :tenant_id AND plan_code = :plan",
        ).describe("A plan's data cap"))
        .query(NamedQuery::read(
            "monitoring.health_by_region",
            "SELECT region, COUNT(*) AS devices, \
             SUM(CASE WHEN status = 'online' THEN 1 ELSE 0 END) AS online, \
             SUM(CASE WHEN status = 'degraded' THEN 1 ELSE 0 END) AS degraded, \
             SUM(CASE WHEN status = 'offline' THEN 1 ELSE 0 END) AS offline \
             FROM devices WHERE tenant_id = :tenant_id AND (:region IS NULL OR region = :region) \
             GROUP BY region ORDER BY region",
        ).describe("Device counts by status and region"))
}
