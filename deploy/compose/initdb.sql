-- Development only: one role and one database per service, as in production, with passwords equal to the
-- role names. The postgres image runs this once, when its data volume is first initialised
-- (docker compose down -v starts over). The same statements seed the dev Postgres of deploy/k8s/overlays/dev.
CREATE ROLE shop_inventory LOGIN PASSWORD 'shop_inventory';
CREATE ROLE shop_orders    LOGIN PASSWORD 'shop_orders';
CREATE ROLE shop_logistics LOGIN PASSWORD 'shop_logistics';
CREATE ROLE shop_returns   LOGIN PASSWORD 'shop_returns';
CREATE ROLE shop_payroll   LOGIN PASSWORD 'shop_payroll';

-- Each database is owned by its service's role; in PostgreSQL 15+ the public schema belongs to the
-- database owner, so the service's migrations can create their tables there.
CREATE DATABASE shop_inventory OWNER shop_inventory;
CREATE DATABASE shop_orders    OWNER shop_orders;
CREATE DATABASE shop_logistics OWNER shop_logistics;
CREATE DATABASE shop_returns   OWNER shop_returns;
CREATE DATABASE shop_payroll   OWNER shop_payroll;

-- No service connects to another's database.
REVOKE CONNECT ON DATABASE shop_inventory, shop_orders, shop_logistics, shop_returns, shop_payroll FROM PUBLIC;
GRANT CONNECT ON DATABASE shop_inventory TO shop_inventory;
GRANT CONNECT ON DATABASE shop_orders    TO shop_orders;
GRANT CONNECT ON DATABASE shop_logistics TO shop_logistics;
GRANT CONNECT ON DATABASE shop_returns   TO shop_returns;
GRANT CONNECT ON DATABASE shop_payroll   TO shop_payroll;
