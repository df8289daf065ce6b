-- One database per service (ARCHITECTURE.md: each service owns its event store).
-- Run once by the postgres image, from /docker-entrypoint-initdb.d, on an empty volume.
CREATE DATABASE intake;
CREATE DATABASE investigation;
CREATE DATABASE resolution;
CREATE DATABASE reporting;
