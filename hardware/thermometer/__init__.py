"""Thermometers: the latest reading and whether it is fresh; serial and MQTT drivers, simulators."""
