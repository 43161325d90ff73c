"""Adapters: everything that talks to the network or the file system at the edges (SFTP, AMQP, folders).

The core (hub.edifact, hub.xml, hub.mapping, hub.dossier) never imports from here."""
