"""Alert channels besides the desktop: webhooks (generic JSON, ntfy, Gotify), a command fed the
alert as JSON, and e-mail through SMTP. `config` reads them from settings.yaml, `send` delivers
one alert, `dispatch` runs each channel in its own thread with a rate limit."""

from portwatch.core.channels.config import ChannelConfig, load_channels
from portwatch.core.channels.dispatch import Channels

__all__ = ["ChannelConfig", "Channels", "load_channels"]
